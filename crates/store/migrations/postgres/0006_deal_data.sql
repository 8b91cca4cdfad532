-- Schema of the deal_data domain (reserved; filled in by that work).
SELECT 1;
