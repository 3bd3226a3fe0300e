program main
  implicit none
  character(len=128) :: word
  read (*, '(A)') word
  write (*, '(A)') 'OK ' // trim(word)
end program main
