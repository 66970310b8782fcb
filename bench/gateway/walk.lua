-- walk.lua — wrk script: GET each line of the link files once, threads taking disjoint slices
-- (thread i takes lines i, i+n, i+2n, ...). With WRAP=1 the list is walked round and round
-- (the denial run over spent links); without it, a thread that runs out stops (first uses:
-- no link is ever used twice, so every 200 is a fresh claim).
--   env: LINKS_FILE (all links, one per line), WRK_THREADS (the -t value), WRAP
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local n = tonumber(os.getenv("WRK_THREADS"))
  wrap = os.getenv("WRAP") == "1"
  paths = {}
  local i = 0
  for line in io.lines(os.getenv("LINKS_FILE")) do
    if i % n == id then
      table.insert(paths, line)
    end
    i = i + 1
  end
  next_index = 1
end

function request()
  if next_index > #paths then
    if wrap then
      next_index = 1
    else
      wrk.thread:stop()
      return wrk.format("GET", "/_oncelink/healthz")
    end
  end
  local path = paths[next_index]
  next_index = next_index + 1
  return wrk.format("GET", path)
end
