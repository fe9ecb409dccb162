"""What a lead does with runs: late-run reschedule, bulk cancel, history and the overview."""
