"""The runtime: streams of input → processors → output on one uvloop event loop."""
