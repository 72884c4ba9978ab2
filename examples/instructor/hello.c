/* hello.c: a course's first program, without libc, so the executable is a
 * few KiB: _start writes a line and exits through system calls.
 * Built by fixtures/build.sh: gcc -static -nostdlib -O1 -o hello hello.c */
static const char msg[] = "hello from the course\n";
long answer = 42;

void _start(void)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "0"(1L), "D"(1L), "S"(msg), "d"(sizeof msg - 1) : "rcx", "r11", "memory");
    __asm__ volatile("syscall" : : "a"(60L), "D"(answer - 42) : "rcx", "r11", "memory");
    for (;;)
        ;
}
