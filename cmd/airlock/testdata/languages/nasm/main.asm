; Reads one line from stdin and prints "OK <line>" (x86-64 Linux syscalls).
section .bss
buf:    resb 128

section .data
prefix: db "OK "

section .text
global _start
_start:
        mov     rax, 1                  ; write(1, prefix, 3)
        mov     rdi, 1
        mov     rsi, prefix
        mov     rdx, 3
        syscall
        xor     rax, rax                ; read(0, buf, 128)
        xor     rdi, rdi
        mov     rsi, buf
        mov     rdx, 128
        syscall
        mov     rdx, rax                ; write(1, buf, n)
        mov     rax, 1
        mov     rdi, 1
        mov     rsi, buf
        syscall
        mov     rax, 60                 ; exit(0)
        xor     rdi, rdi
        syscall
