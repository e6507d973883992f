-- Take: all-or-nothing over every window of one call.
-- KEYS[i]  window hash i: field = unix second of a bucket, value = units taken in it; and
--          two bookkeeping fields: "s", the sum of the buckets present, and "o", a second
--          no later than the oldest bucket present (absent when there is none)
-- ARGV[1]  now, unix ms (the caller's clock)
-- ARGV[2i], ARGV[2i+1]  limit and n of take i
-- Returns {denied (0-based, -1 when allowed), retry_ms, used_1, ..., used_n}, used after
-- this call.
--
-- A take reads "s" and "o" only (HMGET); the buckets themselves are read (HGETALL) when
-- "o" says one may have left the window, at most about once a second per window, or to
-- compute a refusal's wait. Reading every bucket on every take cost the request path up
-- to 60 fields per window (host/state/README.md, "Why it is atomic").
local now = tonumber(ARGV[1])
local sec = math.floor(now / 1000)
local first = sec - 59

-- clean drops the buckets older than the window and sets s and o from what is left;
-- it returns the sum, the list of {second, units} left and the oldest second (nil: none).
local function clean(key)
  local h = redis.call('HGETALL', key)
  local sum, list, old, oldest = 0, {}, {}, nil
  for j = 1, #h, 2 do
    local b = tonumber(h[j])
    if b ~= nil then
      local c = tonumber(h[j + 1])
      if b < first then
        old[#old + 1] = h[j]
      else
        sum = sum + c
        list[#list + 1] = {b, c}
        if oldest == nil or b < oldest then
          oldest = b
        end
      end
    end
  end
  if #old > 0 then
    redis.call('HDEL', key, unpack(old))
  end
  if oldest == nil then
    redis.call('HDEL', key, 's', 'o')
  else
    redis.call('HSET', key, 's', sum, 'o', oldest)
  end
  return sum, list, oldest
end

local used, buckets, oldest = {}, {}, {}
for i = 1, #KEYS do
  local key = KEYS[i]
  if used[key] == nil then
    local so = redis.call('HMGET', key, 's', 'o')
    local o = tonumber(so[2])
    if o ~= nil and o < first then
      used[key], buckets[key], oldest[key] = clean(key)
    else
      used[key], oldest[key] = tonumber(so[1]) or 0, o
    end
  end
end

local pending, denied, retry = {}, -1, 0
for i = 1, #KEYS do
  local key = KEYS[i]
  local limit, n = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local p = pending[key] or 0
  if denied < 0 and used[key] + p + n > limit then
    denied = i - 1
    if p + n > limit then
      retry = 60000
    else
      local need = used[key] + p + n - limit
      if buckets[key] == nil then
        local _, list = clean(key)
        buckets[key] = list
      end
      local list = buckets[key]
      table.sort(list, function(a, b) return a[1] < b[1] end)
      retry = (sec + 60) * 1000 - now
      local freed = 0
      for _, e in ipairs(list) do
        freed = freed + e[2]
        if freed >= need then
          retry = (e[1] + 60) * 1000 - now
          break
        end
      end
    end
  end
  pending[key] = p + n
end

local field = string.format('%d', sec)
local out = {denied, retry}
if denied < 0 then
  for i = 1, #KEYS do
    local key = KEYS[i]
    local n = tonumber(ARGV[2 * i + 1])
    if n > 0 then
      redis.call('HINCRBY', key, field, n)
      redis.call('HINCRBY', key, 's', n)
      -- A replica whose clock is behind may take in a second before "o".
      local o = oldest[key]
      if o == nil or sec < o then
        redis.call('HSET', key, 'o', sec)
        oldest[key] = sec
      end
      redis.call('PEXPIRE', key, 61000)
    end
  end
end
for i = 1, #KEYS do
  local key = KEYS[i]
  if denied < 0 then
    out[#out + 1] = used[key] + pending[key]
  else
    out[#out + 1] = used[key]
  end
end
return out
