"""InstallmentPlanWorkflow: an invoice paid in installments, in order."""
