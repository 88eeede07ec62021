-- A batch a job belongs to (one `multiconvert batch` command line): workers running the same
-- batch claim its jobs only.
ALTER TABLE jobs ADD COLUMN batch TEXT;
CREATE INDEX jobs_batch ON jobs (batch, state);
-- Why a job failed, for a rerun's report.
ALTER TABLE jobs ADD COLUMN error TEXT;
