section .text
global _start
_start:
        mov     rax, undefined_label
        bogus_instruction rax
