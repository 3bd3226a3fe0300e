program main
  implicit none
  write (*, *) undefined_variable
end program main
