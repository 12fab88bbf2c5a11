/* nb_lua.h - the Lua face of noble (prefix nbl_): the `noble` module for Lua
 * 5.4. `noble run script.lua` preloads it; a host program that embeds Lua
 * can open it with luaL_requiref(L, "noble", nbl_open, 0). docs/lua-api.md
 * documents the module. */
#ifndef NB_LUA_H
#define NB_LUA_H

#include <lua.h>

int nbl_open(lua_State *L);

#endif
