-- mixed.lua: bench/load's wrk script. An even mix of get key, wrapKey, unwrapKey and list keys
-- on one vault (Host header; the URL is the loopback HTTPS listener), every status counted per
-- thread and summed at the end as "status CODE COUNT" lines, then p50_ms and p99_ms. The first
-- few non-200 answers are printed as "error CODE BODY". @TOKEN@, @VAULT@ and @WRAPPED@ are
-- filled in by bench/load/run.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local reqs = {}
local n = 0
counts = {}
errors = 0

function init(args)
  local h = {
    ["Host"] = "@VAULT@",
    ["Authorization"] = "Bearer @TOKEN@",
    ["Content-Type"] = "application/json",
  }
  local value = "AAECAwQFBgcICQoLDA0ODwABAgMEBQYHCAkKCwwNDg8"
  reqs[1] = wrk.format("GET", "/keys/kek?api-version=7.5", h)
  reqs[2] = wrk.format("POST", "/keys/kek/wrapkey?api-version=7.5", h,
    '{"alg":"RSA-OAEP-256","value":"' .. value .. '"}')
  reqs[3] = wrk.format("POST", "/keys/kek/unwrapkey?api-version=7.5", h,
    '{"alg":"RSA-OAEP-256","value":"@WRAPPED@"}')
  reqs[4] = wrk.format("GET", "/keys?maxresults=25&api-version=7.5", h)
end

function request()
  n = n + 1
  return reqs[(n % 4) + 1]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if status ~= 200 and status ~= 429 and errors < 3 then
    errors = errors + 1
    io.write("error " .. status .. " " .. string.sub(body, 1, 200) .. "\n")
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do
      total[k] = (total[k] or 0) + v
    end
  end
  for k, v in pairs(total) do
    io.write(string.format("status %d %d\n", k, v))
  end
  io.write(string.format("p50_ms %.2f\n", latency:percentile(50) / 1000))
  io.write(string.format("p99_ms %.2f\n", latency:percentile(99) / 1000))
end
