-- Add: correct one window by n in the bucket of at, when still inside the window.
-- KEYS[1]  the window hash (take.lua describes its fields, "s" and "o" included)
-- ARGV[1]  now, unix ms; ARGV[2] at, unix ms; ARGV[3] n (negative gives back)
local sec = math.floor(tonumber(ARGV[1]) / 1000)
local b = math.min(math.floor(tonumber(ARGV[2]) / 1000), sec)
if b < sec - 59 then
  return 0
end
local key = KEYS[1]
local field = string.format('%d', b)
local n = tonumber(ARGV[3])
if n > 0 then
  redis.call('HINCRBY', key, field, n)
  redis.call('HINCRBY', key, 's', n)
  local o = tonumber(redis.call('HGET', key, 'o'))
  if o == nil or b < o then
    redis.call('HSET', key, 'o', b)
  end
  redis.call('PEXPIRE', key, 61000)
  return 0
end
local c = tonumber(redis.call('HGET', key, field)) or 0
if c == 0 then
  return 0
end
local d = math.max(n, -c)
if c + d > 0 then
  redis.call('HINCRBY', key, field, d)
else
  redis.call('HDEL', key, field)
end
-- "o" stays: a lower bound of the oldest bucket is all take.lua needs of it.
if redis.call('HINCRBY', key, 's', d) <= 0 then
  redis.call('HDEL', key, 's', 'o')
end
return 0
