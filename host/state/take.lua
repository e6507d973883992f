-- Take: all-or-nothing over every window of one call.
-- KEYS[i]  window hash i: field = unix second of a bucket, value = units taken in it
-- ARGV[1]  now, unix ms (the caller's clock)
-- ARGV[2i], ARGV[2i+1]  limit and n of take i
-- Returns {denied (0-based, -1 when allowed), retry_ms, used_1, ..., used_n}, used after
-- this call.
local now = tonumber(ARGV[1])
local sec = math.floor(now / 1000)
local first = sec - 59
local used, buckets = {}, {}
for i = 1, #KEYS do
  local key = KEYS[i]
  if used[key] == nil then
    local h = redis.call('HGETALL', key)
    local sum, list, old = 0, {}, {}
    for j = 1, #h, 2 do
      local b, c = tonumber(h[j]), tonumber(h[j + 1])
      if b < first then
        old[#old + 1] = h[j]
      else
        sum = sum + c
        list[#list + 1] = {b, c}
      end
    end
    if #old > 0 then
      redis.call('HDEL', key, unpack(old))
    end
    used[key], buckets[key] = sum, list
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
for i = 1, #KEYS do
  local key = KEYS[i]
  if denied < 0 then
    local n = tonumber(ARGV[2 * i + 1])
    if n > 0 then
      redis.call('HINCRBY', key, field, n)
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
