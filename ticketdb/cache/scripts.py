"""The Lua scripts the worker writes Redis with. A script runs atomically,
like MULTI/EXEC, and can refuse: each write carries the worker's lease token
and the cache generation, so a worker that lost its lease, or a Redis that
restarted empty (no state, no generation), gets no partial write. A plain
MULTI/EXEC retried by the client on a reconnect would write into an empty
Redis as if it were whole."""

from __future__ import annotations

# KEYS: state, lease, cached set. ARGV: token, generation, position,
# applied_at, event_time, then ops: "sadd" key member | "srem" key member |
# "del" key | "cache" customer | "uncache" customer.
# Returns 1 applied, 0 generation gone (rebuild), -1 lease lost (checked in
# that order: a Redis restarted empty has neither).
APPLY = """
if redis.call('HGET', KEYS[1], 'generation') ~= ARGV[2] then return 0 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return -1 end
local i = 6
local n = 0
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'sadd' then redis.call('SADD', ARGV[i+1], ARGV[i+2]); i = i + 3
  elseif op == 'srem' then redis.call('SREM', ARGV[i+1], ARGV[i+2]); i = i + 3
  elseif op == 'del' then redis.call('DEL', ARGV[i+1]); i = i + 2
  elseif op == 'cache' then redis.call('SADD', KEYS[3], ARGV[i+1]); i = i + 2
  elseif op == 'uncache' then redis.call('SREM', KEYS[3], ARGV[i+1]); i = i + 2
  else return redis.error_reply('ticketdb: unknown cache op ' .. op) end
  n = n + 1
end
redis.call('HSET', KEYS[1], 'position', ARGV[3], 'applied_at', ARGV[4], 'event_time', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'events', n)
return 1
"""

# KEYS: lease, state. ARGV: token, ttl ms, generation ('' before the first
# rebuild), now. Takes a free lease or renews our own; records a heartbeat.
# Returns 1 held (state present with our generation), 0 held but the state
# is gone or another generation (rebuild), -1 held by another worker.
LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local gen = redis.call('HGET', KEYS[2], 'generation')
if ARGV[3] == '' or gen ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], 'heartbeat_at', ARGV[4])
return 1
"""

# KEYS: lease. ARGV: token. Releases the lease if it is ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# KEYS: stream, published hash. ARGV: alert_id, maxlen, then field value
# pairs. One entry per alert: if the alert was published already (the
# worker died before marking it sent), returns that entry's id.
PUBLISH = """
local seen = redis.call('HGET', KEYS[2], ARGV[1])
if seen then return seen end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'alert_id', ARGV[1],
                      unpack(fields))
redis.call('HSET', KEYS[2], ARGV[1], id)
return id
"""
