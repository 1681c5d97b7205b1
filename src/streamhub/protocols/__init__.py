"""Sans-I/O wire formats: no asyncio, sockets, database or clock."""
