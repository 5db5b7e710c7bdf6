-- wrk script: a stream of distinct Baileys text messages from 5000 customers.
local counter = 0
local run = tostring(os.time()) .. tostring(math.random(100000))
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  counter = counter + 1
  local phone = 5511900000000 + (counter % 5000)
  local body = string.format(
    '{"key":{"remoteJid":"%d@s.whatsapp.net","fromMe":false,"id":"B%s-%d"},' ..
    '"pushName":"Cliente","messageTimestamp":%d,"message":{"conversation":"Oi, qual o prazo de entrega?"}}',
    phone, run, counter, os.time())
  return wrk.format(nil, nil, nil, body)
end
