-- wrk script for `POST /deals`: the same small, valid deal on every request. Credentials and
-- X-Origin-App come from wrk's -H flags, which wrk merges into wrk.headers before this runs.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"title":"Load test deal","loan_amount":1250000,"loan_type":"permanent",'
  .. '"transaction_type":"acquisition","description":"Created by bench/load.sh"}'
