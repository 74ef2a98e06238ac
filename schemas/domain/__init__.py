"""Pure, deterministic business logic: journals, billing periods, invoice totals,
installment splits, routing. No I/O, no clock: the workflows run it as it is."""
