"""Host interface, address and route events: PF_ROUTE on FreeBSD, rtnetlink on Linux."""
