#include <iostream>
#include <numeric>
#include <vector>

int main()
{
    std::size_t n;
    std::cin >> n;
    std::vector<long long> v(n);
    for (auto &x : v)
        std::cin >> x;
    std::cout << std::accumulate(v.begin(), v.end(), 0LL) << std::endl;
}
