create buf 128 allot
buf 128 stdin read-line throw drop
." OK " buf swap type cr
bye
