/* get_channel_user_info.c - the port of the asyncio sample cio started from.
 *
 *   async def get_channel_user_info(url):
 *       print("request start ", url)
 *       await asyncio.sleep(1)          # the slow third-party call
 *       print("request succ ", url)
 *
 * Three requests run concurrently: six lines, about 1 second, not 3.
 */
#include <stdio.h>
#include <cio.h>

CIO_ASYNC(get_channel_user_info, const char *url;)
{
    CIO_BEGIN();
    printf("request start %s\n", self->url);
    CIO_AWAIT(cio_sleep(loop, 1.0));            /* the slow third-party call */
    printf("request succ %s\n", self->url);
    CIO_END();
}

int main(void)
{
    cio_loop *loop = cio_loop_new();
    int err;

    if (loop == NULL)
        return 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    err = cio_loop_run_until_complete(loop, cio_gather(loop, 3, (cio_future *[]){
        CIO_START(loop, get_channel_user_info, .url = "baidu"),
        CIO_START(loop, get_channel_user_info, .url = "bytedance"),
        CIO_START(loop, get_channel_user_info, .url = "weixin") }), NULL);
    cio_loop_free(loop);
    if (err != 0)
        fprintf(stderr, "get_channel_user_info: %s\n", cio_strerror(err));
    return err ? 1 : 0;
}
