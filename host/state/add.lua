-- Add: correct one window by n in the bucket of at, when still inside the window.
-- KEYS[1]  the window hash
-- ARGV[1]  now, unix ms; ARGV[2] at, unix ms; ARGV[3] n (negative gives back)
local sec = math.floor(tonumber(ARGV[1]) / 1000)
local b = math.min(math.floor(tonumber(ARGV[2]) / 1000), sec)
if b < sec - 59 then
  return 0
end
local field = string.format('%d', b)
local n = tonumber(ARGV[3])
if n > 0 then
  redis.call('HINCRBY', KEYS[1], field, n)
  redis.call('PEXPIRE', KEYS[1], 61000)
  return 0
end
local c = tonumber(redis.call('HGET', KEYS[1], field)) or 0
if c + n > 0 then
  redis.call('HINCRBY', KEYS[1], field, n)
else
  redis.call('HDEL', KEYS[1], field)
end
return 0
