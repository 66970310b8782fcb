-- issue.lua — wrk script: POST the issue API as fast as it answers and append every issued
-- link's path+query to links.<thread>.txt (one line each). Used to prepare the first-use run:
-- each later GET needs its own fresh link.
--   env: ONCELINK_TOKEN (bearer), ONCELINK_KEY (object key), LINKS_DIR (where the files go)
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local dir = os.getenv("LINKS_DIR")
  out = assert(io.open(dir .. "/links." .. id .. ".txt", "w"))
  wrk.method = "POST"
  wrk.path = "/_oncelink/links"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("ONCELINK_TOKEN")
  wrk.headers["Content-Type"] = "application/json"
  wrk.body = '{"key":"' .. os.getenv("ONCELINK_KEY") .. '","expires_in":3600}'
end

function response(status, headers, body)
  if status == 200 or status == 201 then
    -- {"url":"http://127.0.0.1:PORT/<key>?...", ...}: keep the path and query only.
    local url = body:match('"url"%s*:%s*"([^"]+)"')
    if url then
      out:write(url:gsub("^https?://[^/]+", ""), "\n")
    end
  end
end
