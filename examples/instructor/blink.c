/* blink.c: a Cortex-M0 firmware for the BBC micro:bit (nRF51822), with its
 * own vector table and startup code: .data copied, .bss zeroed, then main.
 * Built by fixtures/build.sh: arm-none-eabi-gcc -mcpu=cortex-m0 -mthumb -O1
 * -g -nostdlib -T blink.ld -o blink.elf blink.c */
#include <stdint.h>

extern uint32_t __sidata, __sdata, __edata, __sbss, __ebss, _stack_top;
uint32_t period = 3;   /* .data: flash holds the 3, startup copies it */
uint32_t toggles;      /* .bss */

int main(void)
{
    /* A blink every `period` ticks, for 4 periods (no division: the
     * Cortex-M0 has no divide instruction). */
    for (uint32_t i = 0, k = 0; i < 4 * period; i++)
        if (++k == period) {
            k = 0;
            toggles++;
        }
    for (;;)
        ;
}

void Reset_Handler(void)
{
    uint32_t *src = &__sidata;
    for (uint32_t *dst = &__sdata; dst < &__edata;)
        *dst++ = *src++;
    for (uint32_t *dst = &__sbss; dst < &__ebss;)
        *dst++ = 0;
    main();
}

__attribute__((section(".vectors"), used)) static void *const vectors[2] = { &_stack_top, Reset_Handler };
