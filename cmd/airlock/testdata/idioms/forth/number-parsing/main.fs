create line 256 allot
variable total

: read-line ( -- u )  line 256 stdin read-line throw drop ;
: next-number ( addr u -- addr' u' n )
  bl skip 2dup bl scan 2swap 2 pick - s>number? 2drop d>s ;

: main
  read-line  line swap s>number? 2drop d>s  ( n )
  read-line  line swap rot  ( addr u n )
  0 total !
  0 ?do  next-number total +!  loop  2drop
  total @ 0 .r cr ;

main bye
