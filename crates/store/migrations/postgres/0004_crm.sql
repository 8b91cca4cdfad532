-- Schema of the crm domain (reserved; filled in by that work).
SELECT 1;
