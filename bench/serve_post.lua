-- wrk script of bench/serve.sh: POST the JSON body in the file $BODY_FILE to the URL wrk was given,
-- and at the end print one JSON line (prefixed "RESULT ") with the counts and latency percentiles
-- (microseconds), which serve.sh collects.
--   BODY_FILE=body.json wrk -t2 -c8 -d10s --latency -s bench/serve_post.lua http://127.0.0.1:PORT/v1/predict
local f = assert(io.open(assert(os.getenv("BODY_FILE"), "BODY_FILE is not set"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "errors_connect": %d, ' ..
    '"errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d, ' ..
    '"latency_mean_us": %.1f, "latency_p50_us": %d, "latency_p90_us": %d, ' ..
    '"latency_p99_us": %d, "latency_max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
