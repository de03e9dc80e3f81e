"""Planning a request: the plugins, the chain plan, the result cache front and batch streaming."""
