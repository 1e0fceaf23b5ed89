/* What a failed recv (EAGAIN) and an epoll_ctl(MOD) cost on this machine, for bench/RESULTS.md.
   cc -O2 bench/eagain_cost.c -o /tmp/eagain_cost && /tmp/eagain_cost */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
static double now() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}
int main() {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
  bind(l, (void*)&a, sizeof a);
  listen(l, 1);
  socklen_t n = sizeof a;
  getsockname(l, (void*)&a, &n);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  connect(c, (void*)&a, sizeof a);
  int s = accept(l, 0, 0);
  fcntl(s, F_SETFL, O_NONBLOCK);
  char buf[64];
  int N = 1000000;
  double t0 = now();
  for (int i = 0; i < N; i++) recv(s, buf, sizeof buf, 0);
  double t1 = now();
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.fd = s};
  epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  double t2 = now();
  for (int i = 0; i < N; i++) epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev);
  double t3 = now();
  printf("recv EAGAIN: %.0f ns, epoll_ctl MOD: %.0f ns\n", (t1 - t0) / N * 1e9,
         (t3 - t2) / N * 1e9);
}
