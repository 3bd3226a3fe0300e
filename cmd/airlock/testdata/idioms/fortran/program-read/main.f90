program main
  implicit none
  integer :: n
  integer, allocatable :: a(:)

  read (*, *) n
  allocate (a(n))
  read (*, *) a
  print '(i0)', sum(a)
end program main
