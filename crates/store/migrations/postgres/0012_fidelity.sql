-- Every deal has its financials record from creation (all values null until set); deals
-- stored before that rule get theirs here, stamped with the deal's creation time.
INSERT INTO deal_financials (deal_id, updated_at)
SELECT d.id, d.created_at FROM deals d
WHERE NOT EXISTS (SELECT 1 FROM deal_financials f WHERE f.deal_id = d.id);

-- What the contact match of a placement did: 'matched' (a recommended contact was assigned),
-- 'no_match' (none was available) or 'not_requested' (the creator named the contact). Rows
-- from before the column show a value derived from whether they have a contact.
ALTER TABLE placements ADD COLUMN contact_match_status TEXT;
