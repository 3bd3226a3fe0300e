Copy stdin to stdout until end of input
,[.,]
