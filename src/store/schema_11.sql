-- Migration 11: the exit code is the CLI's.
--
-- A run's exit code is decided by the CLI (`cli/exit.rs`) from how the run ended. Once a run
-- stopped by a signal has its own status, the status says it all and the stored number goes.
UPDATE runs SET status = 'interrupted' WHERE status = 'stopped' AND exit_code = 130;
ALTER TABLE runs DROP COLUMN exit_code;
