#!lua name=shmrt
--
-- src/runtime/queue_backend_redis.lua - the server side of the redis
-- backend (queue_backend_redis.c): every step that touches more than one
-- key is one of these functions, so it is atomic on the server.
--
-- KEYS[1] of every call is the tenant's key prefix "shmrt:{TENANT}:"; the
-- hash tag puts every key of a tenant in one Cluster slot. Keys under it:
--   state            engine state: 1 ready, 2 draining, 3 stopped
--   seq, tok         job id counter, fencing token counter (INCR)
--   job:ID           hash: q st att ma bo ret pl res lane enq start fin
--                    tok (the lease's token, 0 when not leased) dl cap
--                    ftok (token that ended it) cxl (cancel requested)
--   q:Q              ready job ids of an unlaned queue Q
--   lane:Q:LANE      job ids of one lane, in enqueue order
--   ready:Q          lanes with a queued job and none running (a ring)
--   lbusy:Q          hash lane -> the job that holds the lane
--   delayed:Q        zset: retries in backoff, score = due time (ms)
--   leases           zset: leased job ids, score = lease deadline (ms)
--   permits:Q        set: jobs holding one of Q's semaphore permits
--   cnt:Q            hash: queued running live
--   stats:Q          hash: enq ok fail retry recl cxl dedup
--   fin:Q, failed:Q  zsets of retained finished / failed jobs (by time)
--   idem:Q:KEY       idempotency key -> job id (PX = the key's TTL)
--   nonce:N          an enqueue's client nonce -> job id (retried sends)
--   wake:Q           wake tokens that sleeping workers BLPOP
--   done:ID          one token once the job ended; waiters BLMOVE on it
--   workers          zset: worker seats, score = heartbeat deadline (ms)
-- Times are the server's clock (TIME), so hosts need no synchronised
-- clocks. Job states use the values of enum shmrt_job_state.
--

local QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = 2, 3, 5, 6, 7
local WAKE_MAX = 63
local FOREVER_MS = 315360000000 -- ten years: a lease with no timeout

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function num(v)
  return tonumber(v) or 0
end

local function wake(P, q)
  redis.call('LPUSH', P .. 'wake:' .. q, '1')
  redis.call('LTRIM', P .. 'wake:' .. q, 0, WAKE_MAX)
end

-- Make a lane runnable again: ring it when it has queued jobs.
local function lane_release(P, q, lane)
  redis.call('HDEL', P .. 'lbusy:' .. q, lane)
  if redis.call('LLEN', P .. 'lane:' .. q .. ':' .. lane) > 0 then
    redis.call('RPUSH', P .. 'ready:' .. q, lane)
  end
end

-- A queued job (new, or a retry that is due) becomes leasable. A retry
-- of a laned job goes back to the head of its lane, which it held.
local function make_ready(P, q, id, lane, retry)
  if lane ~= '' then
    local lk = P .. 'lane:' .. q .. ':' .. lane
    if retry then
      redis.call('LPUSH', lk, id)
      lane_release(P, q, lane)
    else
      redis.call('RPUSH', lk, id)
      if redis.call('LLEN', lk) == 1 and
         redis.call('HEXISTS', P .. 'lbusy:' .. q, lane) == 0 then
        redis.call('RPUSH', P .. 'ready:' .. q, lane)
      end
    end
  else
    redis.call('RPUSH', P .. 'q:' .. q, id)
  end
  wake(P, q)
end

-- ARGV: q payload lane key idem_ttl_ms capacity max_attempts backoff_ms
--       retention_ms nonce
local function enqueue(keys, a)
  local P, q, lane, key, nonce = keys[1], a[1], a[3], a[4], a[10]
  if redis.call('GET', P .. 'state') ~= '1' then return {'DRAINING'} end
  local seen = redis.call('GET', P .. 'nonce:' .. nonce)
  if seen then return {'OK', seen} end
  local ik = P .. 'idem:' .. q .. ':' .. key
  if key ~= '' then
    local old = redis.call('GET', ik)
    if old and redis.call('EXISTS', P .. 'job:' .. old) == 1 then
      redis.call('HINCRBY', P .. 'stats:' .. q, 'dedup', 1)
      return {'EXISTING', old}
    end
  end
  if num(redis.call('HGET', P .. 'cnt:' .. q, 'live')) >= num(a[6]) then
    return {'FULL'}
  end
  local id = tostring(redis.call('INCR', P .. 'seq'))
  redis.call('HSET', P .. 'job:' .. id, 'q', q, 'st', QUEUED, 'att', 0,
             'ma', a[7], 'bo', a[8], 'ret', a[9], 'pl', a[2], 'lane', lane,
             'enq', now_us(), 'tok', 0)
  if key ~= '' then redis.call('SET', ik, id, 'PX', a[5]) end
  redis.call('SET', P .. 'nonce:' .. nonce, id, 'PX', 600000)
  redis.call('HINCRBY', P .. 'cnt:' .. q, 'queued', 1)
  redis.call('HINCRBY', P .. 'cnt:' .. q, 'live', 1)
  redis.call('HINCRBY', P .. 'stats:' .. q, 'enq', 1)
  make_ready(P, q, id, lane, false)
  return {'OK', id}
end

-- Retries whose backoff is over become leasable (a few per call).
local function promote(P, q, now_ms)
  local due = redis.call('ZRANGEBYSCORE', P .. 'delayed:' .. q, '-inf',
                         now_ms, 'LIMIT', 0, 32)
  for _, id in ipairs(due) do
    redis.call('ZREM', P .. 'delayed:' .. q, id)
    local j = redis.call('HMGET', P .. 'job:' .. id, 'st', 'lane')
    if num(j[1]) == QUEUED then make_ready(P, q, id, j[2] or '', true) end
  end
end

-- The next queued job of q, its lane taken; nil when there is none.
local function pick(P, q, laned)
  if laned ~= '1' then
    while true do
      local id = redis.call('LPOP', P .. 'q:' .. q)
      if not id then return nil end
      if num(redis.call('HGET', P .. 'job:' .. id, 'st')) == QUEUED then
        return id
      end
    end
  end
  while true do
    local lane = redis.call('LPOP', P .. 'ready:' .. q)
    if not lane then return nil end
    local lk = P .. 'lane:' .. q .. ':' .. lane
    while true do
      local id = redis.call('LPOP', lk)
      if not id then break end
      if num(redis.call('HGET', P .. 'job:' .. id, 'st')) == QUEUED then
        redis.call('HSET', P .. 'lbusy:' .. q, lane, id)
        return id
      end
    end
  end
end

-- ms until the next retry of q is due, or -1.
local function next_due(P, q, now_ms)
  local z = redis.call('ZRANGE', P .. 'delayed:' .. q, 0, 0, 'WITHSCORES')
  if #z == 0 then return -1 end
  local d = num(z[2]) - now_ms
  if d < 1 then d = 1 end
  return d
end

local function lease_deadline(now_ms, start_ms, hb, cap)
  local dl = FOREVER_MS + now_ms
  if hb > 0 then dl = now_ms + hb end
  if cap > 0 and start_ms + cap < dl then dl = start_ms + cap end
  return dl
end

-- ARGV: q sem_limit heartbeat_timeout_ms job_timeout_ms laned
local function lease(keys, a)
  local P, q, limit = keys[1], a[1], num(a[2])
  local us = now_us()
  local ms = math.floor(us / 1000)
  promote(P, q, ms)
  if limit > 0 and redis.call('SCARD', P .. 'permits:' .. q) >= limit then
    return {'NONE', next_due(P, q, ms)}
  end
  local id = pick(P, q, a[5])
  if not id then return {'NONE', next_due(P, q, ms)} end
  local jk = P .. 'job:' .. id
  local tok = redis.call('INCR', P .. 'tok')
  local att = redis.call('HINCRBY', jk, 'att', 1)
  local dl = lease_deadline(ms, ms, num(a[3]), num(a[4]))
  redis.call('HSET', jk, 'st', RUNNING, 'tok', tok, 'start', us, 'dl', dl,
             'cap', a[4], 'hb', a[3], 'cxl', 0)
  redis.call('ZADD', P .. 'leases', dl, id)
  if limit > 0 then redis.call('SADD', P .. 'permits:' .. q, id) end
  redis.call('HINCRBY', P .. 'cnt:' .. q, 'queued', -1)
  redis.call('HINCRBY', P .. 'cnt:' .. q, 'running', 1)
  local j = redis.call('HMGET', jk, 'pl', 'lane', 'enq')
  return {'OK', id, tok, att, j[1], j[2] or '', j[3]}
end

-- A job ended (its state is written): it leaves the live count, joins
-- the retained ones until its TTL, its waiters wake, and so does a
-- worker (a permit or a lane may be free).
local function job_end(P, id, j, stat, ms)
  local ret = j.ret > 0 and j.ret or 1
  redis.call('HINCRBY', P .. 'cnt:' .. j.q, 'live', -1)
  redis.call('HINCRBY', P .. 'stats:' .. j.q, stat, 1)
  redis.call('ZADD', P .. 'fin:' .. j.q, ms, id)
  redis.call('PEXPIRE', P .. 'job:' .. id, ret)
  redis.call('RPUSH', P .. 'done:' .. id, '1')
  redis.call('PEXPIRE', P .. 'done:' .. id, ret)
  wake(P, j.q)
end

-- A leased job ends its attempt: permit and lease go; then it retries
-- (back to the queue after its backoff, keeping its lane) or ends, which
-- frees its lane, wakes its waiters and starts its retention.
local function settle(P, id, j, ok, text, retry, us)
  local q, lane, jk = j.q, j.lane, P .. 'job:' .. id
  local ms = math.floor(us / 1000)
  redis.call('ZREM', P .. 'leases', id)
  redis.call('SREM', P .. 'permits:' .. q, id)
  redis.call('HINCRBY', P .. 'cnt:' .. q, 'running', -1)
  if not ok and retry and j.att < j.ma then
    redis.call('HSET', jk, 'st', QUEUED, 'tok', 0, 'res', text)
    redis.call('HINCRBY', P .. 'cnt:' .. q, 'queued', 1)
    redis.call('HINCRBY', P .. 'stats:' .. q, 'retry', 1)
    if j.bo > 0 then
      redis.call('ZADD', P .. 'delayed:' .. q, ms + j.bo, id)
      wake(P, q) -- a sleeper must learn the retry's due time
    else
      make_ready(P, q, id, lane, true)
    end
    return 'RETRY'
  end
  redis.call('HSET', jk, 'st', ok and SUCCEEDED or FAILED, 'res', text,
             'fin', us, 'ftok', j.tok, 'tok', 0)
  if lane ~= '' then lane_release(P, q, lane) end
  if not ok then redis.call('ZADD', P .. 'failed:' .. q, ms, id) end
  job_end(P, id, j, ok and 'ok' or 'fail', ms)
  return 'OK'
end

local function job_read(P, id)
  local f = redis.call('HMGET', P .. 'job:' .. id, 'st', 'tok', 'q', 'lane',
                       'att', 'ma', 'bo', 'ret', 'ftok')
  if not f[1] then return nil end
  return {st = num(f[1]), tok = f[2], q = f[3], lane = f[4] or '',
          att = num(f[5]), ma = num(f[6]), bo = num(f[7]), ret = num(f[8]),
          ftok = f[9]}
end

-- ARGV: id token ok(1|0) text retry(1|0). Fenced: only the lease's own
-- token ends an attempt. The same call repeated after a lost reply finds
-- ftok = token and answers OK again.
local function finish(keys, a)
  local P, id, tok = keys[1], a[1], a[2]
  local j = job_read(P, id)
  if not j then return 'STALE' end
  if j.st ~= RUNNING or j.tok ~= tok then
    if j.ftok == tok then return 'OK' end
    return 'STALE'
  end
  return settle(P, id, j, a[3] == '1', a[4], a[5] == '1', now_us())
end

-- ARGV: worker seat_ttl_ms [id token]: the seat's heartbeat, and the
-- lease's (fenced) extension. Returns 1 while the lease is held.
local function beat(keys, a)
  local P, us = keys[1], now_us()
  local ms = math.floor(us / 1000)
  redis.call('ZADD', P .. 'workers', ms + num(a[2]), a[1])
  if not a[3] or a[3] == '' then return 1 end
  local jk = P .. 'job:' .. a[3]
  local f = redis.call('HMGET', jk, 'st', 'tok', 'start', 'hb', 'cap')
  if num(f[1]) ~= RUNNING or f[2] ~= a[4] then return 0 end
  local dl = lease_deadline(ms, math.floor(num(f[3]) / 1000), num(f[4]),
                            num(f[5]))
  redis.call('HSET', jk, 'dl', dl)
  redis.call('ZADD', P .. 'leases', 'XX', dl, a[3])
  return 1
end

-- The job a client names by id and queue (ARGV 1, 2), or nil: an id
-- whose queue is not the job's names no job.
local function job_named(P, a)
  local j = job_read(P, a[1])
  if j and j.q == a[2] then return j end
  return nil
end

-- ARGV: id queue. 0 cancelled, 1 running and told, or an error name.
local function cancel(keys, a)
  local P, id = keys[1], a[1]
  local j = job_named(P, a)
  if not j then return 'NOJOB' end
  if j.st == RUNNING then
    redis.call('HSET', P .. 'job:' .. id, 'cxl', 1)
    return 1
  end
  if j.st ~= QUEUED then return 'STATE' end
  local us = now_us()
  -- A retry in backoff holds its lane: free it. A job still in a list
  -- stays there; pick skips it.
  if redis.call('ZREM', P .. 'delayed:' .. j.q, id) == 1 and j.lane ~= '' then
    lane_release(P, j.q, j.lane)
  end
  redis.call('HSET', P .. 'job:' .. id, 'st', CANCELLED, 'fin', us)
  redis.call('HINCRBY', P .. 'cnt:' .. j.q, 'queued', -1)
  job_end(P, id, j, 'cxl', math.floor(us / 1000))
  return 0
end

-- ARGV: id queue. Forget a finished job now.
local function release(keys, a)
  local P, id = keys[1], a[1]
  local j = job_named(P, a)
  if not j then return 'NOJOB' end
  if j.st < SUCCEEDED then return 'STATE' end
  redis.call('DEL', P .. 'job:' .. id, P .. 'done:' .. id)
  redis.call('ZREM', P .. 'fin:' .. j.q, id)
  redis.call('ZREM', P .. 'failed:' .. j.q, id)
  return 0
end

-- Drop index entries of finished jobs whose retention ended.
local function trim_finished(P, q)
  local n = 0
  for _, z in ipairs({'fin:', 'failed:'}) do
    local ids = redis.call('ZRANGE', P .. z .. q, 0, 63)
    for _, id in ipairs(ids) do
      if redis.call('EXISTS', P .. 'job:' .. id) == 0 then
        redis.call('ZREM', P .. z .. q, id)
        if z == 'fin:' then n = n + 1 end
      end
    end
  end
  return n
end

-- ARGV: nqueues max. The reaper, which any host may run: leases past
-- their deadline are taken back (requeued, or failed when the attempts
-- are used up), seats whose heartbeat stopped are dropped.
-- Returns {dead seats, requeued, failed, expired}.
local function reap(keys, a)
  local P, us = keys[1], now_us()
  local ms = math.floor(us / 1000)
  local out = {0, 0, 0, 0}
  out[1] = redis.call('ZREMRANGEBYSCORE', P .. 'workers', '-inf', ms)
  local ids = redis.call('ZRANGEBYSCORE', P .. 'leases', '-inf', ms,
                         'LIMIT', 0, num(a[2]))
  for _, id in ipairs(ids) do
    local j = job_read(P, id)
    if j and j.st == RUNNING then
      redis.call('HINCRBY', P .. 'stats:' .. j.q, 'recl', 1)
      if settle(P, id, j, false, 'lease expired: the worker died or ' ..
                'stopped heartbeating', true, us) == 'RETRY' then
        out[2] = out[2] + 1
      else
        out[3] = out[3] + 1
      end
    else
      redis.call('ZREM', P .. 'leases', id)
    end
  end
  for q = 0, num(a[1]) - 1 do
    out[4] = out[4] + trim_finished(P, tostring(q))
  end
  return out
end

-- ARGV: state. Sets the engine state and wakes every sleeping worker of
-- the nqueues (ARGV[2]) queues, so that they see it.
local function set_state(keys, a)
  local P = keys[1]
  redis.call('SET', P .. 'state', a[1])
  for q = 0, num(a[2]) - 1 do
    for _ = 1, 8 do wake(P, tostring(q)) end
  end
  return 1
end

-- Worker seats whose heartbeat is live.
local function peers(keys)
  local ms = math.floor(now_us() / 1000)
  return redis.call('ZCOUNT', keys[1] .. 'workers', '(' .. ms, '+inf')
end

-- ARGV: nqueues. The runner's last act: wake tokens and the seat table
-- go; jobs stay until their retention ends.
local function retire(keys, a)
  local P = keys[1]
  redis.call('DEL', P .. 'workers')
  for q = 0, num(a[1]) - 1 do redis.call('DEL', P .. 'wake:' .. q) end
  return 1
end

-- ARGV: nqueues. A runner starts the tenant: ready, with counters from
-- zero ("since the tenant started"); the jobs it holds go on.
local function start(keys, a)
  local P = keys[1]
  for q = 0, num(a[1]) - 1 do redis.call('DEL', P .. 'stats:' .. q) end
  return set_state(keys, {'1', a[1]})
end

local function version()
  return 'shmrt-redis-1'
end

redis.register_function('shmrt_enqueue', enqueue)
redis.register_function('shmrt_lease', lease)
redis.register_function('shmrt_finish', finish)
redis.register_function('shmrt_beat', beat)
redis.register_function('shmrt_cancel', cancel)
redis.register_function('shmrt_release', release)
redis.register_function('shmrt_reap', reap)
redis.register_function('shmrt_set_state', set_state)
redis.register_function('shmrt_retire', retire)
redis.register_function('shmrt_start', start)
redis.register_function{function_name = 'shmrt_peers', callback = peers,
                        flags = {'no-writes'}}
redis.register_function{function_name = 'shmrt_version',
                        callback = version, flags = {'no-writes'}}
