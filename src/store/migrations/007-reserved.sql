-- 007: reserved for the moderation branch (issue 4), which lands its own 007 migration. This
-- placeholder only keeps the numbering gap-free on the auth branch; delete it when merging.
SELECT 1;
