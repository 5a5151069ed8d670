//! The Lua scripts of the provider's Redis store: every step that uses something up, or
//! ends grants, is one of them (see the key layout in the parent module).

/// Revokes grant `id` (prefix `p`): its access and refresh tokens, its sets, its family
/// membership, its place in its user's list at its client. Returns the grant's JSON if it was live (the caller that ended it tells its
/// client), else false. Shared by the scripts below.
pub(super) const REVOKE_FN: &str = r"
local function members(k)
  if redis.call('TYPE', k).ok == 'set' then return redis.call('SMEMBERS', k) end
  return redis.call('ZRANGE', k, 0, -1)
end
local function revoke(p, id)
  local g = p .. 'og:' .. id
  local f = redis.call('HMGET', g, 'j', 'f', 'c', 'u', 'b')
  local j, fam = f[1], f[2]
  if not j then return false end
  if f[3] and f[4] then
    redis.call('LREM', p .. 'ou:' .. (f[5] or f[3]) .. ':' .. f[4], 0, id)
    redis.call('SREM', p .. 'op:' .. f[4], id)
  end
  for _, a in ipairs(members(g .. ':a')) do redis.call('DEL', p .. 'oa:' .. a) end
  for _, r in ipairs(redis.call('SMEMBERS', g .. ':r')) do redis.call('DEL', p .. 'or:' .. r) end
  for _, r in ipairs(redis.call('ZRANGE', g .. ':rz', 0, -1)) do redis.call('DEL', p .. 'or:' .. r) end
  redis.call('DEL', g, g .. ':a', g .. ':r', g .. ':rz')
  if fam then redis.call('SREM', p .. 'of:' .. fam, id) end
  return j
end
";

/// KEYS[1] the code. ARGV: prefix, now, grant id, keep (ms), grant JSON, family, client,
/// refresh hex ('' for none), access hex, access expiry (ms since the epoch), grant TTL (ms),
/// access TTL (ms), the grant's end (ms since the epoch), the access token's scopes, the user,
/// the most grants per user and bound, the approving key, the bound (`Grant::bound`). Returns {'issued', JSON of each
/// grant the bound evicted…}, {'reused', grant id, grant JSON if this ended it} or {'unknown'}.
pub(super) const REDEEM: &str = r"
local p, now = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', p .. 'ofe:' .. ARGV[6]) == 1 then return {'unknown'} end
local used = redis.call('HGET', KEYS[1], 'u')
if used then
  -- 'or nil' ends the list there when the grant was gone already (false would be a nil
  -- element).
  return {'reused', used, revoke(p, used) or nil}
end
local e = tonumber(redis.call('HGET', KEYS[1], 'e'))
if not e or now >= e then return {'unknown'} end
local o = p .. 'ou:' .. ARGV[18] .. ':' .. ARGV[15]
-- Ids whose grant is gone (expired) hold no place in the bound.
for _, old in ipairs(redis.call('LRANGE', o, 0, -1)) do
  if redis.call('EXISTS', p .. 'og:' .. old) == 0 then redis.call('LREM', o, 0, old) end
end
-- A personal token's bound refuses, never evicts: nothing is stored.
if string.sub(ARGV[18], -9) == '#personal' and redis.call('LLEN', o) >= tonumber(ARGV[16]) then
  return {'full'}
end
local id = ARGV[3]
redis.call('HSET', KEYS[1], 'u', id)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local g = p .. 'og:' .. id
redis.call('HSET', g, 'j', ARGV[5], 'f', ARGV[6], 'c', ARGV[7], 'x', ARGV[13], 'u', ARGV[15], 'k', ARGV[17], 'b', ARGV[18])
local op = p .. 'op:' .. ARGV[15]
redis.call('SADD', op, id)
if redis.call('PTTL', op) < tonumber(ARGV[11]) then redis.call('PEXPIRE', op, ARGV[11]) end
if ARGV[8] ~= '' then
  redis.call('HSET', g, 'r', ARGV[8])
  redis.call('SET', p .. 'or:' .. ARGV[8], id, 'PX', ARGV[11])
  redis.call('ZADD', g .. ':rz', now, ARGV[8])
end
redis.call('SET', p .. 'oa:' .. ARGV[9], id .. ' ' .. ARGV[10] .. ' ' .. ARGV[14], 'PX', ARGV[12])
redis.call('ZADD', g .. ':a', ARGV[10], ARGV[9])
for _, k in ipairs({g, g .. ':a', g .. ':rz'}) do redis.call('PEXPIRE', k, ARGV[11]) end
local f = p .. 'of:' .. ARGV[6]
redis.call('SADD', f, id)
if redis.call('PTTL', f) < tonumber(ARGV[11]) then redis.call('PEXPIRE', f, ARGV[11]) end
redis.call('RPUSH', o, id)
if redis.call('PTTL', o) < tonumber(ARGV[11]) then redis.call('PEXPIRE', o, ARGV[11]) end
local out = {'issued'}
while redis.call('LLEN', o) > tonumber(ARGV[16]) do
  local j = revoke(p, redis.call('LPOP', o))
  if j then table.insert(out, j) end
end
return out
";

/// ARGV: prefix, now, presented refresh hex, client id, new refresh hex, new access hex,
/// access expiry (ms since the epoch), access TTL (ms), the access token's scopes, the most
/// rotated-out tokens kept, the most access tokens kept. Returns {'rotated', grant JSON},
/// {'reused', grant id, grant JSON if this ended it} or {'unknown'}.
pub(super) const REFRESH: &str = r"
local p, now = ARGV[1], tonumber(ARGV[2])
local id = redis.call('GET', p .. 'or:' .. ARGV[3])
if not id then return {'unknown'} end
local g = p .. 'og:' .. id
local f = redis.call('HMGET', g, 'j', 'c', 'r', 'x', 'f')
if not f[1] then return {'unknown'} end
if f[2] ~= ARGV[4] or now >= tonumber(f[4]) then return {'unknown'} end
if f[5] and redis.call('EXISTS', p .. 'ofe:' .. f[5]) == 1 then return {'unknown'} end
if f[3] ~= ARGV[3] then
  return {'reused', id, revoke(p, id) or nil}
end
local ttl = math.max(1, tonumber(f[4]) - now)
redis.call('HSET', g, 'r', ARGV[5])
redis.call('SET', p .. 'or:' .. ARGV[5], id, 'PX', ttl)
redis.call('ZADD', g .. ':rz', now, ARGV[5])
redis.call('PEXPIRE', g .. ':rz', ttl)
local over = redis.call('ZCARD', g .. ':rz') - tonumber(ARGV[10]) - 1
if over > 0 then
  local popped = redis.call('ZPOPMIN', g .. ':rz', over)
  for i = 1, #popped, 2 do redis.call('DEL', p .. 'or:' .. popped[i]) end
end
local a = g .. ':a'
redis.call('ZREMRANGEBYSCORE', a, '-inf', now)
redis.call('SET', p .. 'oa:' .. ARGV[6], id .. ' ' .. ARGV[7] .. ' ' .. ARGV[9], 'PX', ARGV[8])
redis.call('ZADD', a, ARGV[7], ARGV[6])
-- Beyond the bound the soonest to expire go, never the one just issued.
local extra = redis.call('ZCARD', a) - tonumber(ARGV[11])
if extra > 0 then
  local gone = 0
  for _, m in ipairs(redis.call('ZRANGE', a, 0, extra)) do
    if gone < extra and m ~= ARGV[6] then
      redis.call('ZREM', a, m)
      redis.call('DEL', p .. 'oa:' .. m)
      gone = gone + 1
    end
  end
end
return {'rotated', f[1]}
";

/// KEYS[1] the access token. ARGV: prefix, now. Returns the grant JSON and the expiry, or
/// nil.
pub(super) const ACCESS: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return false end
local id, e, s = string.match(v, '^(%S+) (%d+) ?(.*)$')
if not id or tonumber(ARGV[2]) >= tonumber(e) then return false end
local j = redis.call('HGET', ARGV[1] .. 'og:' .. id, 'j')
if not j then return false end
return {j, e, s}
";

/// KEYS[1] the code; ARGV: prefix, presenting client. Revokes the grant a used code made, if
/// the code's own client presents it; returns {its id, its JSON if this ended it}, or an
/// empty list.
pub(super) const REPLAYED: &str = r"
local f = redis.call('HMGET', KEYS[1], 'u', 'c')
local used = f[1]
if not used or f[2] ~= ARGV[2] then return {} end
return {used, revoke(ARGV[1], used) or nil}
";

/// ARGV: prefix, user, key hex ('' for any). Revokes the user's grants (those the key
/// approved); returns the JSON of each it ended.
pub(super) const END_USER: &str = r"
local ended = {}
for _, id in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'op:' .. ARGV[2])) do
  local k = redis.call('HGET', ARGV[1] .. 'og:' .. id, 'k')
  if ARGV[3] == '' or k == ARGV[3] then
    local j = revoke(ARGV[1], id)
    if j then table.insert(ended, j) end
  end
end
return ended
";

/// ARGV: prefix, user, then client ids. Returns, for each live grant of the user at those
/// clients (their `ou:` lists, personal tokens' `#personal` bound too), its JSON, when it was
/// last used (ms, '' for never) and from where.
pub(super) const GRANTS_OF: &str = r"
local out = {}
for i = 3, #ARGV do
  for _, bound in ipairs({ARGV[i], ARGV[i] .. '#personal'}) do
    for _, id in ipairs(redis.call('LRANGE', ARGV[1] .. 'ou:' .. bound .. ':' .. ARGV[2], 0, -1)) do
      local f = redis.call('HMGET', ARGV[1] .. 'og:' .. id, 'j', 'lu', 'lf')
      if f[1] then
        out[#out + 1] = f[1]
        out[#out + 1] = f[2] or ''
        out[#out + 1] = f[3] or ''
      end
    end
  end
end
return out
";

/// KEYS[1] the access token. ARGV: prefix, when (ms), from where. Records the use on its
/// grant, if both live.
pub(super) const TOUCH: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local id = string.match(v, '^(%S+) ')
if not id then return 0 end
local g = ARGV[1] .. 'og:' .. id
if redis.call('EXISTS', g) == 0 then return 0 end
redis.call('HSET', g, 'lu', ARGV[2], 'lf', ARGV[3])
return 1
";

/// ARGV: prefix, grant id. Returns the grant's JSON if it was live.
pub(super) const REVOKE: &str = "return revoke(ARGV[1], ARGV[2])";

/// ARGV: prefix, family, how long it stays marked ended (ms). Revokes its grants and its
/// unredeemed codes; returns the JSON of each grant it ended.
pub(super) const END_FAMILY: &str = r"
local p = ARGV[1]
redis.call('SET', p .. 'ofe:' .. ARGV[2], '1', 'PX', ARGV[3])
local f = p .. 'of:' .. ARGV[2]
local ended = {}
for _, id in ipairs(redis.call('SMEMBERS', f)) do
  local j = revoke(p, id)
  if j then table.insert(ended, j) end
end
redis.call('DEL', f)
local fc = p .. 'ofc:' .. ARGV[2]
for _, c in ipairs(redis.call('SMEMBERS', fc)) do
  local k = p .. 'oc:' .. c
  if redis.call('HEXISTS', k, 'u') == 0 then redis.call('DEL', k) end
end
redis.call('DEL', fc)
return ended
";

/// Takes a one-time value (an app's code, a step-up ticket), in one step (a `GETDEL` that
/// older servers also run).
/// KEYS[1] the code. Returns its record or nil.
pub(super) const TAKE: &str = r"
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v
";
