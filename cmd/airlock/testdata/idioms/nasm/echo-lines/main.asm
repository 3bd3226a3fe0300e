; Copies stdin to stdout, a block at a time, until end of input.
        section .bss
buf     resb    4096

        section .text
        global  _start
_start:
.loop:  mov     eax, 0                  ; read(0, buf, 4096)
        mov     edi, 0
        lea     rsi, [rel buf]
        mov     edx, 4096
        syscall
        test    rax, rax
        jle     .done
        mov     rdx, rax                ; write(1, buf, n)
        mov     eax, 1
        mov     edi, 1
        lea     rsi, [rel buf]
        syscall
        jmp     .loop
.done:  mov     eax, 60                 ; exit(0)
        xor     edi, edi
        syscall
