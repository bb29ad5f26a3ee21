-- Headless Neovim (0.7 or later) as a kalloclint-lsp client: open the file given on the command line,
-- wait for the server's diagnostics, print them one a line, exit 0 if any arrived, 1 if none did.
--   nvim --headless --clean -u examples/nvim/check.lua path/to/file.c
-- KALLOCLINT_LSP names the server command (default: kalloclint-lsp), split at spaces.
local cmd = vim.split(os.getenv("KALLOCLINT_LSP") or "kalloclint-lsp", " ", { trimempty = true })

local function finish(code)
  for _, client in pairs(vim.lsp.get_active_clients()) do
    client.stop()
  end
  vim.wait(2000, function() return #vim.lsp.get_active_clients() == 0 end, 50)
  vim.cmd(code == 0 and "qall!" or "cquit! " .. code)
end

vim.api.nvim_create_autocmd("VimEnter", {
  callback = function()
    local buf = vim.api.nvim_get_current_buf()
    local path = vim.api.nvim_buf_get_name(buf)
    local id = vim.lsp.start_client({
      name = "kalloclint",
      cmd = cmd,
      root_dir = vim.fn.fnamemodify(path, ":p:h"),
    })
    vim.lsp.buf_attach_client(buf, id)
    local arrived = vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 100)
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      io.stdout:write(string.format("%s:%d:%d: %s [%s]\n", path, d.lnum + 1, d.col + 1, d.message,
        tostring(d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code))))
    end
    io.stdout:flush()
    finish(arrived and 0 or 1)
  end,
})
