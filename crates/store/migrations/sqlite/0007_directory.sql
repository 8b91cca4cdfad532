-- Schema of the directory domain (reserved; filled in by that work).
SELECT 1;
