\ Sum of n integers: each input line is evaluated, so its numbers land on the stack.
create line 256 allot

: read-input-line ( -- addr u )
  line 256 stdin read-line throw drop  line swap ;

: main ( -- )
  read-input-line evaluate >r         \ n, kept on the return stack
  0 read-input-line evaluate          \ 0 x1 .. xn
  r> 0 ?do + loop               \ sum
  0 .r cr ;

main bye
