-- AddSpend: INCRBYFLOAT, with the expiry set only when this call creates the counter.
-- KEYS[1]  the counter; ARGV[1] usd; ARGV[2] ttl ms (0: keep forever)
local existed = redis.call('EXISTS', KEYS[1])
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if existed == 0 and ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return total
