-- wrk script: a stream of distinct Baileys text messages from 5000 customers.
-- With BENCH_TENANTS=n (and BENCH_SECRET) the messages go round-robin to tenants bench0..bench<n-1>;
-- without it, to the URL's own path.
local counter = 0
local run = tostring(os.time()) .. tostring(math.random(100000))
local tenants = tonumber(os.getenv("BENCH_TENANTS") or "0")
local secret = os.getenv("BENCH_SECRET") or ""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local phone = 5511900000000 + (counter % 5000)
  local body = string.format(
    '{"key":{"remoteJid":"%d@s.whatsapp.net","fromMe":false,"id":"B%s-%d"},' ..
    '"pushName":"Cliente","messageTimestamp":%d,"message":{"conversation":"Oi, qual o prazo de entrega?"}}',
    phone, run, counter, os.time())
  local path = nil
  if tenants > 0 then
    path = string.format("/hooks/whaticket/bench%d/main/%s", counter % tenants, secret)
  end
  return wrk.format(nil, path, nil, body)
end
