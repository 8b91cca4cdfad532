-- Schema of the placements domain (reserved; filled in by that work).
SELECT 1;
