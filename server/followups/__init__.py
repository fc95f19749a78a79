"""Follow-up visits (回访): the tasks an outcome leaves, and what each visit found."""
