program solution
  implicit none
  integer :: n, i
  integer(kind=8), allocatable :: x(:)

  read *, n
  allocate (x(n))
  read *, (x(i), i = 1, n)
  write (*, '(i0)') sum(x)
end program solution
