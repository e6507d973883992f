-- Publish a circuit event: remember an open breaker until its Until, forget a closed one,
-- then tell every subscriber.
-- KEYS[1]  the breaker's entry; KEYS[2] the index of open breakers (score: Until, ms)
-- ARGV[1]  the event (JSON); ARGV[2] ttl ms (<= 0: forget); ARGV[3] Until ms;
-- ARGV[4]  the breaker's key (index member); ARGV[5] the channel; ARGV[6] now ms
if tonumber(ARGV[2]) > 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
else
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[4])
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[6])
return redis.call('PUBLISH', ARGV[5], ARGV[1])
