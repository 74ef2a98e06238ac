"""`paysaga chaos`: a short run against the real embedded stack."""
