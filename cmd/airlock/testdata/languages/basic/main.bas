line input "" w$
print "OK " + w$
